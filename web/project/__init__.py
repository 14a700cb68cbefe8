"""Project and enterprise accounts: the projects in their scope."""
