"""Where a sweep's points run, declared once: the executor and its job settings, validated like
the run configuration (pydantic; errors one line naming the flag, or sweep.json's key), with no
torch to import, so that a wrong flag is refused at once. rtbench.sweep.executors uses them;
sweep.json records them (`record`) so that `--resume` goes on alike."""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rtbench.sweep import SweepError
from rtbench.text import quote
from rtbench.validation import Loc, dotted, one_line

EXECUTORS = ("inline", "local", "slurm")
SLURM_ONLY = ("partition", "gpus_per_job", "cpus_per_job", "constraint", "account", "qos")


class ExecutorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field("inline", description="inline (this process), local (a submitit subprocess "
                      "job per point) or slurm (a submitit job array).")  # fmt: skip
    # Per point, for submitit jobs (its own default is 2 minutes).
    timeout_min: int = Field(60, ge=1, description="Time limit of one point's job, minutes "
                             "(local, slurm).")  # fmt: skip
    # One machine runs one point at a time, or points would disturb each other's timings.
    max_parallel: int = Field(1, ge=1, description="SLURM: points measured at once, each on its "
                              "own GPUs.")  # fmt: skip
    partition: str | None = Field(None, description="SLURM partition.")
    gpus_per_job: int | None = Field(None, ge=0, description="SLURM: GPUs per job (default 1 on "
                                     "cuda, else 0).")  # fmt: skip
    cpus_per_job: int | None = Field(None, ge=1, description="SLURM: CPUs per job.")
    constraint: str | None = Field(None, description="SLURM constraint (a GPU type, say).")
    account: str | None = Field(None, description="SLURM account.")
    qos: str | None = Field(None, description="SLURM quality of service.")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in EXECUTORS:
            raise ValueError(f"unknown executor {quote(value)}; choose from {', '.join(EXECUTORS)}")
        return value

    @model_validator(mode="after")
    def _slurm_only(self) -> "ExecutorSettings":
        if self.name == "slurm":
            return self
        if self.max_parallel != 1:
            raise ValueError(
                "--max-parallel is for --executor slurm: points on one machine run one at a "
                "time, or they would disturb each other's timings"
            )
        wrong = [key for key in SLURM_ONLY if getattr(self, key) is not None]
        if wrong:
            raise ValueError(f"{flag((wrong[0],))} is for --executor slurm, not {self.name}")
        return self

    @classmethod
    def make(cls, values: dict, where: Callable[[Loc], str] | None = None) -> "ExecutorSettings":
        """Validated settings, or SweepError in one line naming the flag at fault (or what
        `where` calls the field)."""
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            raise SweepError(one_line(err, cls, where or flag, show_value=True)) from None

    def record(self) -> dict[str, Any]:
        """The settings as sweep.json keeps them."""
        return self.model_dump()


def flag(loc: Loc) -> str:
    """The command-line flag of a setting: name -> --executor, timeout_min -> --timeout-min; a
    whole-model error (a SLURM-only flag, say) names its flag itself."""
    if not loc:
        return ""
    if loc[0] not in ExecutorSettings.model_fields:
        return dotted(loc)
    return "--executor" if loc[0] == "name" else "--" + str(loc[0]).replace("_", "-")
