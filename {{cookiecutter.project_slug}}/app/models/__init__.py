"""The data layer: `from app.models import db, User, Job`.

`db` is the Flask-SQLAlchemy extension. The schema lives in Alembic
migrations (migrations/): after changing a model, run
`python manage.py db migrate -m "what changed"`, read the new file, then
`python manage.py db upgrade`.
"""

from app.models.base import db
from app.models.job import Job
from app.models.user import User

__all__ = ["Job", "User", "db"]
