"""Alembic migrations, shipped inside the package so the image and the db_migrate job find them."""
