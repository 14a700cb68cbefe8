"""Enrolment pages (ENR-1…7): the labour specialist enrols a worker on a project and follows the case."""
