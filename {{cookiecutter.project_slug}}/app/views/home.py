"""The progress page: start tasks and watch their progress bars."""

from flask import Blueprint, render_template

from app.owners import browser_key

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    # The page's script lists this browser's tasks while its user may start
    # one: give the browser its id now, so that both requests carry it.
    browser_key()
    return render_template("index.html")
