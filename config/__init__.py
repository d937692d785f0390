"""Settings and the default data (agencies, routing keywords) the service starts with."""
