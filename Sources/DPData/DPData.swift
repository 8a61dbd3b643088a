// Filled in by the data work (issue 4).
