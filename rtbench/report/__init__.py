"""Reports of a results document: Table 3 mirror (terminal, Markdown, CSV), files on disk."""
