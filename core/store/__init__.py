"""The ground floor of core/: what a run leaves on disk and how it is read back (run records,
released models) and the error every command turns into one line. Below it only
core/checkpoints, so the floors above may all use it."""
