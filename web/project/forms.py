"""No forms yet: the project home page only shows facts."""
