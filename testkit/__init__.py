"""Test instruments: fakes, stand-ins and AWS call observers shared by tests, bench and the local stack."""
