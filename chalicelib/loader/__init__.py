"""The policy loader's parts: people.py (people.toml) and roles.py (roles/*.toml).

chalicelib/policies.py reads the files and puts them together (load_catalog).
"""
