"""The web app's views: thin, each calls services and selectors and renders a template."""
