"""PySonar: the data scientist's library for posting models to Sonar and paying for gradients."""
