"""Batch issuance: a CSV or JSONL file of license requests becomes a job that a worker issues row by row.

`parse` reads files into row requests, `service` submits jobs and issues their rows, `worker` runs
the job function (procrastinate on PostgreSQL, an in-process thread on SQLite), `router` and `cli`
are the HTTP and command-line faces.
"""
