"""The run: plan, build, one note, the store (only writer), the view (only reader), the coordinator."""
