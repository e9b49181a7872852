"""Tables, figures and the HTML report: pure functions of stored runs."""
