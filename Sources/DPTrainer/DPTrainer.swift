// Filled in by the trainer work (issue 5).
