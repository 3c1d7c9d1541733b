import Hummingbird
import AsyncHTTPClient
import GRDB
