"""Everything a workflow asks the world to do: database writes, inbox rows, notifications."""
