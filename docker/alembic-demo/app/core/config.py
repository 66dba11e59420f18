"""Settings from the environment, as the application reads them."""
import os
from urllib.parse import quote


class Settings:
    def __init__(self):
        self.POSTGRES_SERVER = os.environ["POSTGRES_SERVER"]
        self.POSTGRES_PORT = int(os.environ.get("POSTGRES_PORT", "5432"))
        self.POSTGRES_USER = os.environ["POSTGRES_USER"]
        self.POSTGRES_PASSWORD = os.environ["POSTGRES_PASSWORD"]
        self.POSTGRES_DB = os.environ["POSTGRES_DB"]

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return "postgresql+psycopg2://%s:%s@%s:%d/%s" % (
            quote(self.POSTGRES_USER), quote(self.POSTGRES_PASSWORD), self.POSTGRES_SERVER,
            self.POSTGRES_PORT, self.POSTGRES_DB)


settings = Settings()
