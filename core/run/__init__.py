"""Running a session: the training session and its cluster roles, the guards that
stop a run that cannot give a model worth having, and photo folders made datasets.
"""
