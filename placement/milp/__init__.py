"""Exact placement by MILP (HiGHS): one step (`step`) and a whole day (`day`)."""
