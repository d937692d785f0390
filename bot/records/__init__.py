"""What every capability shares about a complaint: reading it (queries, read models),
writing its history (status changes and audit rows), the agency directory's defaults."""
