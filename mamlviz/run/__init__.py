"""Where and how runs execute: executors (here, or on Ray), the dashboard's job queue, the study runner.
No torch at import time."""
