"""One module per thing the checker looks at; each returns findings."""
