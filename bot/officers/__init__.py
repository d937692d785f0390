"""Officers' work: the actions they take on complaints and the desk that turns chat
requests into those actions."""
