"""One submission: unpack, locate, run the student's code in children, score, read REPORT.md."""
