"""Scale benchmark: one realistic day of landing data at 100k–10M app jobs, reconciled three ways.

- `generate`  — writes the day straight to landing Parquet (DuckDB SQL, vectorized) plus the truth;
- `floor.sql` — the near-physical limit: one hand-written DuckDB script, no dbt, no intermediate tables;
- `naive_pandas` — the way a user scripts it in pandas before adopting this project;
- `harness`   — runs recon's real `dbt build`, the floor and pandas on the same input in child
  processes, checks their findings are identical (and equal the truth), and reports the figures.
"""
