"""Public pages (no login): the project registration application and its status (REG-1, REG-2)."""
