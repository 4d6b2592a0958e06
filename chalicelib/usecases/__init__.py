"""The use cases, one module each: requesting, deciding, the role engine, the sweep, queries.

They share one ``Context`` (context.py) and write every state change through one
``UnitOfWork`` (unit_of_work.py). chalicelib/service.py puts them behind one facade.
"""
