"""`python -m hub …` runs the `hub` command (as the console script does), e.g. `python -m hub worker`."""

from hub.cli import app

app(prog_name="hub")
