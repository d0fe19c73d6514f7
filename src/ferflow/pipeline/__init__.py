"""The workflow's glue: the config and its schema, the plan of runs, the output paths and layouts, the step logs, the report."""
