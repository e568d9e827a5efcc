"""The Django project: flat apps by domain; services are the only writers of the database."""
