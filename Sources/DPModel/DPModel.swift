// Filled in by the model work (issue 3).
