from rtbench.cli import main

main()
