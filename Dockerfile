# Multi-stage build of both programs into one small image.
# docker build -t wallet . ; the compose file runs `api` and `worker` from it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./api \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/worker ./worker

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/api /out/worker /usr/local/bin/
USER nonroot
EXPOSE 8080 9091
ENTRYPOINT ["/usr/local/bin/api"]
