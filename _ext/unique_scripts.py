"""Each page's <script> tags once: a Sphinx 7 bug,
fixed upstream in sphinx-doc/sphinx#13402.

An inline script an extension adds after the builder starts (sphinx-thebe's
``const THEBE_JS_URL = ...``) is written twice, and the second ``const`` is a
SyntaxError in the browser console. Jupyter Book 1 pins sphinx~=7.0: drop the repeats.
"""


def unique_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of each script (same file or inline body, same attributes)."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (
            script.filename or "",
            script.priority,
            tuple(sorted(script.attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
