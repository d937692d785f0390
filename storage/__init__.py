"""Storage: the only package that talks SQL. Tables, engine, unit of work, migrations."""
