"""Web forms (Flask-WTF): validation and CSRF protection in one place."""
