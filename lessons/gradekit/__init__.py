"""The course's grading engine."""
