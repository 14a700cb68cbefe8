"""Login, logout, password change and the language switch (ACC-5, OPS-3)."""
