"""The SLA: the work calendar, each complaint's clock, the chaser, the daily digest and
the compliance figures."""
