"""Everything the user sees of a build, fed by the scheduler's events."""
