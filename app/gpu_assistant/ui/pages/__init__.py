"""The five wizard pages, in the order of the user's path."""
