"""nbgrader configuration of the sparse autoencoder course (this folder is the course root)."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "sparse-autoencoder"

# The longest cell is assignment 05's training: 400 L-BFGS iterations on
# 10,000 patches take about 30 s with a vectorized solution here; a slow but
# correct student solution gets four times that.
c.Execute.timeout = 120

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Never copy editor or build leftovers into the release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
