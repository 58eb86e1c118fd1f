"""Reading the marts and rendering them: terminal summary, HTML report, one CSV per mismatch code."""
