"""recon: daily reconciliation of AI gateway usage against an app's jobs and assets."""
