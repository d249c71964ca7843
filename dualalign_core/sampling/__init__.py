"""Generic, data-driven samplers: personas from prevalence tables, note plans from a stage schedule."""
