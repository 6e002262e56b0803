"""A trained model answering: photos to answers (inference, predict, features),
export (SavedModel, int8), made faces (generate) and the released models.
"""
