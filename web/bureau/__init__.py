"""The bureau reviewers' task inbox and case page (REG-2, REG-3)."""
